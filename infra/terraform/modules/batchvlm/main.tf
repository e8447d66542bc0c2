# The BatchVlm fleet on Azure: one resource group holding the network, the AKS cluster with its GPU pool, storage,
# PostgreSQL, RabbitMQ and the fleet itself. envs/dev and envs/prod are thin roots over this module; they differ
# only in the environment name and the variable defaults. Providers are configured by the roots.

terraform {
  required_version = ">= 1.6"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.35"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

locals {
  environment = var.environment
  name        = "batchvlm-${local.environment}"
  tags        = merge({ project = "batchvlm", environment = local.environment, managed-by = "terraform" }, var.tags)

  # The fleet's namespace and service accounts: the workload identities are federated for exactly these.
  fleet_namespace = "batchvlm"
  service_accounts = {
    coordinator = "batchvlm-coordinator"
    worker      = "batchvlm-worker"
  }
}

# Storage account and PostgreSQL names are global; a random suffix keeps environments and subscriptions apart.
resource "random_string" "suffix" {
  length  = 6
  upper   = false
  special = false
}

# Only characters that need no quoting in an Npgsql connection string; Azure wants three of the four classes.
resource "random_password" "postgres" {
  length           = 32
  override_special = "-_.~"
  min_upper        = 2
  min_lower        = 2
  min_numeric      = 2
  min_special      = 1
}

resource "random_password" "rabbitmq" {
  length  = 32
  special = false
}

resource "azurerm_resource_group" "this" {
  name     = "rg-${local.name}"
  location = var.location
  tags     = local.tags
}

module "network" {
  source = "../network"

  name                = "vnet-${local.name}"
  resource_group_name = azurerm_resource_group.this.name
  location            = azurerm_resource_group.this.location
  address_space       = var.address_space
  tags                = local.tags
}

module "gpu_pool" {
  source = "../gpu-pool"

  name                  = "aks-${local.name}"
  resource_group_name   = azurerm_resource_group.this.name
  location              = azurerm_resource_group.this.location
  kubernetes_version    = var.kubernetes_version
  sku_tier              = var.aks_sku_tier
  subnet_id             = module.network.aks_nodes_subnet_id
  system_vm_size        = var.system_vm_size
  system_min_count      = var.system_min_count
  system_max_count      = var.system_max_count
  gpu_vm_size           = var.gpu_vm_size
  gpu_min_count         = var.gpu_min_count
  gpu_max_count         = var.gpu_max_count
  gpu_zones             = var.gpu_zones
  gpu_spot              = var.gpu_spot
  container_registry_id = var.container_registry_id
  tags                  = local.tags

  workload_identities = {
    for role, sa in local.service_accounts : role => {
      namespace       = local.fleet_namespace
      service_account = sa
    }
  }
}

module "storage" {
  source = "../storage"

  name                          = "stbatchvlm${local.environment}${random_string.suffix.result}"
  resource_group_name           = azurerm_resource_group.this.name
  location                      = azurerm_resource_group.this.location
  replication_type              = var.storage_replication_type
  soft_delete_retention_days    = var.storage_soft_delete_retention_days
  public_network_access_enabled = length(var.storage_allowed_ip_ranges) > 0
  allowed_ip_ranges             = var.storage_allowed_ip_ranges
  private_endpoint_subnet_id    = module.network.private_endpoints_subnet_id
  virtual_network_id            = module.network.virtual_network_id
  tags                          = local.tags

  blob_data_contributors = merge(
    { worker = { principal_id = module.gpu_pool.workload_identity_principal_ids["worker"] } },
    var.storage_data_contributors,
  )
  blob_data_readers = {
    coordinator = { principal_id = module.gpu_pool.workload_identity_principal_ids["coordinator"] }
  }
}

module "postgres" {
  source = "../postgres"

  name                         = "psql-${local.name}-${random_string.suffix.result}"
  resource_group_name          = azurerm_resource_group.this.name
  location                     = azurerm_resource_group.this.location
  sku_name                     = var.postgres_sku_name
  storage_mb                   = var.postgres_storage_mb
  backup_retention_days        = var.postgres_backup_retention_days
  geo_redundant_backup_enabled = var.postgres_geo_redundant_backup_enabled
  high_availability            = var.postgres_high_availability
  delegated_subnet_id          = module.network.postgres_subnet_id
  virtual_network_id           = module.network.virtual_network_id
  administrator_password       = random_password.postgres.result
  server_parameters            = var.postgres_server_parameters
  tags                         = local.tags
}

module "rabbitmq" {
  source = "../rabbitmq"

  password          = random_password.rabbitmq.result
  memory_limit_mib  = var.rabbitmq_memory_limit_mib
  disk_size         = var.rabbitmq_disk_size
  client_namespaces = [local.fleet_namespace]

  depends_on = [module.gpu_pool]
}

module "fleet" {
  source = "../fleet"

  namespace                      = local.fleet_namespace
  coordinator_service_account    = local.service_accounts.coordinator
  worker_service_account         = local.service_accounts.worker
  coordinator_image              = var.coordinator_image
  worker_image                   = var.worker_image
  worker_tasks                   = var.worker_tasks
  worker_replicas                = var.worker_replicas
  worker_cpu                     = var.worker_cpu
  worker_memory                  = var.worker_memory
  gpu_node_selector              = module.gpu_pool.gpu_node_selector
  coordinator_identity_client_id = module.gpu_pool.workload_identity_client_ids["coordinator"]
  worker_identity_client_id      = module.gpu_pool.workload_identity_client_ids["worker"]
  storage_account_url            = module.storage.account_url
  postgres_connection_string     = module.postgres.connection_string
  rabbitmq_host                  = module.rabbitmq.host
  rabbitmq_port                  = module.rabbitmq.port
  rabbitmq_username              = module.rabbitmq.username
  rabbitmq_password              = random_password.rabbitmq.result
  hf_token                       = var.hf_token
  settings                       = var.fleet_settings

  depends_on = [module.gpu_pool]
}
