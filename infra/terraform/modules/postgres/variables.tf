# Inputs of the postgres module.

variable "name" {
  description = "Flexible server name (unique across Azure; also names its private DNS zone)."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group that holds the server."
  type        = string
}

variable "location" {
  description = "Azure region of the server."
  type        = string
}

variable "sku_name" {
  description = "Compute SKU: tier_family_size, e.g. B_Standard_B2s (burstable, dev) or GP_Standard_D4ds_v5."
  type        = string
  default     = "GP_Standard_D4ds_v5"
}

variable "storage_mb" {
  description = "Storage size in MiB (one of the sizes Azure offers: 32768, 65536, 131072, ...); grows automatically when full."
  type        = number
  default     = 131072
}

variable "backup_retention_days" {
  description = "Days of point-in-time restore (7-35)."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 7 and 35."
  }
}

variable "geo_redundant_backup_enabled" {
  description = "Keep backups in the paired region as well (set at creation only)."
  type        = bool
  default     = false
}

variable "high_availability" {
  description = "Zone-redundant standby (not available on the Burstable tier)."
  type        = bool
  default     = false
}

variable "zone" {
  description = "Availability zone of the primary (\"1\", \"2\", \"3\"), or null to let Azure choose."
  type        = string
  default     = null
}

variable "delegated_subnet_id" {
  description = "Subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers (network module output postgres_subnet_id)."
  type        = string
}

variable "virtual_network_id" {
  description = "Virtual network the server's private DNS zone is linked to."
  type        = string
}

variable "administrator_login" {
  description = "Administrator user; the fleet connects as this user (it runs the schema migrations)."
  type        = string
  default     = "batchvlm"
}

variable "administrator_password" {
  description = "Administrator password (8-128 characters). No ; ' or \" so it can stand unquoted in an Npgsql connection string."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.administrator_password) >= 8 && length(var.administrator_password) <= 128 && !can(regex("[;'\"]", var.administrator_password))
    error_message = "administrator_password must be 8-128 characters without ; ' or \"."
  }
}

variable "database_name" {
  description = "Database the fleet uses."
  type        = string
  default     = "batchvlm"
}

variable "server_parameters" {
  description = "Server parameters to set, name → value (e.g. { max_connections = \"400\" })."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
