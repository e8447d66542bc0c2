# Inputs of the storage module.

variable "name" {
  description = "Storage account name: 3-24 lowercase letters and digits, unique across Azure."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]{3,24}$", var.name))
    error_message = "name must be 3-24 lowercase letters and digits."
  }
}

variable "resource_group_name" {
  description = "Resource group that holds the storage account."
  type        = string
}

variable "location" {
  description = "Azure region of the storage account."
  type        = string
}

variable "replication_type" {
  description = "Account replication: LRS, ZRS, GRS, RAGRS, GZRS or RAGZRS."
  type        = string
  default     = "ZRS"

  validation {
    condition     = contains(["LRS", "ZRS", "GRS", "RAGRS", "GZRS", "RAGZRS"], var.replication_type)
    error_message = "replication_type must be one of LRS, ZRS, GRS, RAGRS, GZRS, RAGZRS."
  }
}

variable "containers" {
  description = "Private blob containers to create (image archives and result files)."
  type        = list(string)
  default     = ["inputs", "results"]
}

variable "soft_delete_retention_days" {
  description = "Days a deleted blob or container stays recoverable (1-365)."
  type        = number
  default     = 14

  validation {
    condition     = var.soft_delete_retention_days >= 1 && var.soft_delete_retention_days <= 365
    error_message = "soft_delete_retention_days must be between 1 and 365."
  }
}

variable "version_retention_days" {
  description = "Days after which a previous blob version is deleted by the lifecycle policy."
  type        = number
  default     = 30
}

variable "public_network_access_enabled" {
  description = "Whether the public endpoint is reachable at all (then only from allowed_ip_ranges). Default false: private endpoint only."
  type        = bool
  default     = false
}

variable "allowed_ip_ranges" {
  description = "Public IPv4 addresses or CIDR ranges allowed when public_network_access_enabled is true (e.g. an operator network uploading archives)."
  type        = list(string)
  default     = []
}

variable "private_endpoint_subnet_id" {
  description = "Subnet for the blob private endpoint; null creates none (then public_network_access_enabled must be true)."
  type        = string
  default     = null
}

variable "virtual_network_id" {
  description = "Virtual network the privatelink.blob.core.windows.net zone is linked to (needed with private_endpoint_subnet_id)."
  type        = string
  default     = null
}

variable "blob_data_contributors" {
  description = "Principals given Storage Blob Data Contributor on the account, by a fixed name (e.g. worker = the workers' managed identity)."
  type = map(object({
    principal_id   = string
    principal_type = optional(string, "ServicePrincipal")
  }))
  default = {}
}

variable "blob_data_readers" {
  description = "Principals given Storage Blob Data Reader on the account, by a fixed name (e.g. coordinator)."
  type = map(object({
    principal_id   = string
    principal_type = optional(string, "ServicePrincipal")
  }))
  default = {}
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
