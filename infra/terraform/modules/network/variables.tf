# Inputs of the network module.

variable "name" {
  description = "Name of the virtual network."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group that holds the virtual network."
  type        = string
}

variable "location" {
  description = "Azure region of the virtual network."
  type        = string
}

variable "address_space" {
  description = "IPv4 address space of the virtual network, a /16 (the subnets are carved from it). Must not overlap the AKS service and pod CIDRs (gpu-pool module: 10.240.0.0/16, 10.244.0.0/16)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.address_space, 0)) && endswith(var.address_space, "/16")
    error_message = "address_space must be an IPv4 CIDR block of size /16, e.g. 10.40.0.0/16."
  }
}

variable "tags" {
  description = "Tags applied to every resource of the module."
  type        = map(string)
  default     = {}
}
