# Outputs of the storage module. account_url is what the fleet's Storage:AccountUrl setting takes.

output "account_id" {
  description = "Resource ID of the storage account."
  value       = azurerm_storage_account.this.id
}

output "account_name" {
  description = "Name of the storage account."
  value       = azurerm_storage_account.this.name
}

output "account_url" {
  description = "Blob service URL (https://<account>.blob.core.windows.net/) for Storage:AccountUrl."
  value       = azurerm_storage_account.this.primary_blob_endpoint
}

output "container_names" {
  description = "Names of the containers created."
  value       = sort([for c in azurerm_storage_container.this : c.name])
}
