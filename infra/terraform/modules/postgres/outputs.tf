# Outputs of the postgres module. connection_string is in the shape ConnectionStrings:Postgres takes.

output "server_id" {
  description = "Resource ID of the flexible server."
  value       = azurerm_postgresql_flexible_server.this.id
}

output "fqdn" {
  description = "Private host name of the server."
  value       = azurerm_postgresql_flexible_server.this.fqdn
}

output "database_name" {
  description = "Name of the fleet's database."
  value       = azurerm_postgresql_flexible_server_database.batchvlm.name
}

output "connection_string" {
  description = "Npgsql connection string for ConnectionStrings:Postgres (TLS required, as Azure enforces)."
  value       = "Host=${azurerm_postgresql_flexible_server.this.fqdn};Port=5432;Username=${var.administrator_login};Password=${var.administrator_password};Database=${azurerm_postgresql_flexible_server_database.batchvlm.name};SSL Mode=Require"
  sensitive   = true
}
