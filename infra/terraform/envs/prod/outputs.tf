# Outputs of the prod environment, forwarded from modules/batchvlm.

output "resource_group_name" {
  description = "Resource group holding the environment."
  value       = module.batchvlm.resource_group_name
}

output "aks_get_credentials" {
  description = "Command that writes a kubeconfig for the cluster."
  value       = module.batchvlm.aks_get_credentials
}

output "storage_account_name" {
  description = "Storage account of the image archives and result files."
  value       = module.batchvlm.storage_account_name
}

output "storage_account_url" {
  description = "Storage:AccountUrl of the fleet."
  value       = module.batchvlm.storage_account_url
}

output "postgres_fqdn" {
  description = "Private host name of the PostgreSQL server."
  value       = module.batchvlm.postgres_fqdn
}

output "rabbitmq_host" {
  description = "In-cluster host name of RabbitMQ."
  value       = module.batchvlm.rabbitmq_host
}

output "fleet_namespace" {
  description = "Namespace of the coordinator and the workers."
  value       = module.batchvlm.fleet_namespace
}

output "submit_example" {
  description = "How to run a CLI command inside the cluster (the coordinator image holds the CLI and the fleet's settings)."
  value       = module.batchvlm.submit_example
}
