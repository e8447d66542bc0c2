# The prod environment: the whole fleet in one resource group with production sizes — regular (non-Spot) GPU nodes
# with one always warm, zone-redundant PostgreSQL HA with 35 days of restore points, zone-redundant storage, the AKS
# Standard tier (uptime SLA). envs/dev uses the same composite module small and cheap; the two differ only in variable
# defaults and the environment name.

module "batchvlm" {
  source = "../../modules/batchvlm"

  environment = "prod"

  location                              = var.location
  tags                                  = var.tags
  address_space                         = var.address_space
  aks_sku_tier                          = var.aks_sku_tier
  system_min_count                      = var.system_min_count
  system_max_count                      = var.system_max_count
  gpu_vm_size                           = var.gpu_vm_size
  gpu_min_count                         = var.gpu_min_count
  gpu_max_count                         = var.gpu_max_count
  gpu_spot                              = var.gpu_spot
  container_registry_id                 = var.container_registry_id
  coordinator_image                     = var.coordinator_image
  worker_image                          = var.worker_image
  worker_tasks                          = var.worker_tasks
  worker_replicas                       = var.worker_replicas
  worker_cpu                            = var.worker_cpu
  worker_memory                         = var.worker_memory
  storage_replication_type              = var.storage_replication_type
  storage_soft_delete_retention_days    = var.storage_soft_delete_retention_days
  storage_allowed_ip_ranges             = var.storage_allowed_ip_ranges
  storage_data_contributors             = var.storage_data_contributors
  postgres_sku_name                     = var.postgres_sku_name
  postgres_storage_mb                   = var.postgres_storage_mb
  postgres_backup_retention_days        = var.postgres_backup_retention_days
  postgres_geo_redundant_backup_enabled = var.postgres_geo_redundant_backup_enabled
  postgres_high_availability            = var.postgres_high_availability
  rabbitmq_memory_limit_mib             = var.rabbitmq_memory_limit_mib
  rabbitmq_disk_size                    = var.rabbitmq_disk_size
  hf_token                              = var.hf_token
  fleet_settings                        = var.fleet_settings
}
