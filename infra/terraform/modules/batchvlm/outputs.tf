# Outputs of the composite module: what an operator needs after `terraform apply` (forwarded by the env roots),
# and the cluster credentials the roots configure their kubernetes provider with.

output "resource_group_name" {
  description = "Resource group holding the environment."
  value       = azurerm_resource_group.this.name
}

output "aks_get_credentials" {
  description = "Command that writes a kubeconfig for the cluster."
  value       = "az aks get-credentials --resource-group ${azurerm_resource_group.this.name} --name ${module.gpu_pool.cluster_name}"
}

output "storage_account_name" {
  description = "Storage account of the image archives and result files."
  value       = module.storage.account_name
}

output "storage_account_url" {
  description = "Storage:AccountUrl of the fleet."
  value       = module.storage.account_url
}

output "postgres_fqdn" {
  description = "Private host name of the PostgreSQL server."
  value       = module.postgres.fqdn
}

output "rabbitmq_host" {
  description = "In-cluster host name of RabbitMQ."
  value       = module.rabbitmq.host
}

output "fleet_namespace" {
  description = "Namespace of the coordinator and the workers."
  value       = module.fleet.namespace
}

output "submit_example" {
  description = "How to run a CLI command inside the cluster (the coordinator image holds the CLI and the fleet's settings)."
  value       = "kubectl -n ${module.fleet.namespace} exec deploy/${module.fleet.coordinator_deployment} -- dotnet /app/batchvlm.dll submit --help"
}

output "kube_config" {
  description = "API server endpoint and client credentials of the cluster, for the roots' kubernetes provider."
  value       = module.gpu_pool.kube_config
  sensitive   = true
}
