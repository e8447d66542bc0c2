# Outputs of the network module: the subnets the other modules attach to.

output "virtual_network_id" {
  description = "ID of the virtual network (private DNS zones link to it)."
  value       = azurerm_virtual_network.this.id
}

output "aks_nodes_subnet_id" {
  description = "ID of the subnet for the AKS node pools."
  value       = azurerm_subnet.aks_nodes.id
}

output "postgres_subnet_id" {
  description = "ID of the subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers."
  value       = azurerm_subnet.postgres.id
}

output "private_endpoints_subnet_id" {
  description = "ID of the subnet for private endpoints."
  value       = azurerm_subnet.private_endpoints.id
}
