# Inputs of the prod environment: the values whose defaults are prod-specific, and the ones set per environment
# (terraform.tfvars, terraform.tfvars.example); everything else has its default in modules/batchvlm/variables.tf.
# Every value has a default except the images. Secrets are generated (random_password), never defaulted.

variable "subscription_id" {
  description = "Azure subscription to deploy into; null uses ARM_SUBSCRIPTION_ID."
  type        = string
  default     = null
}

variable "location" {
  description = "Azure region; it must offer the GPU VM size (and quota for its family)."
  type        = string
  default     = "eastus2"
}

variable "tags" {
  description = "Extra tags for every resource (project, environment and managed-by are always set)."
  type        = map(string)
  default     = {}
}

variable "address_space" {
  description = "Address space (/16) of the environment's virtual network."
  type        = string
  default     = "10.50.0.0/16"
}

variable "aks_sku_tier" {
  description = "AKS control plane tier (Free: no SLA)."
  type        = string
  default     = "Standard"
}

variable "system_min_count" {
  description = "Fewest system nodes."
  type        = number
  default     = 2
}

variable "system_max_count" {
  description = "Most system nodes."
  type        = number
  default     = 4
}

variable "gpu_vm_size" {
  description = "GPU VM size (Standard_NC24ads_A100_v4: 1 × A100 80 GB; Standard_NC40ads_H100_v5: 1 × H100 NVL)."
  type        = string
  default     = "Standard_NC40ads_H100_v5"
}

variable "gpu_min_count" {
  description = "Fewest GPU nodes (0: none while no worker runs)."
  type        = number
  default     = 1
}

variable "gpu_max_count" {
  description = "Most GPU nodes."
  type        = number
  default     = 16
}

variable "gpu_spot" {
  description = "Use Spot VMs for the GPU pool."
  type        = bool
  default     = false
}

variable "container_registry_id" {
  description = "Resource ID of the Azure Container Registry holding the images (AcrPull is granted); null if pulls need no grant."
  type        = string
  default     = null
}

variable "coordinator_image" {
  description = "Coordinator image reference (built from deploy/coordinator.Dockerfile)."
  type        = string
}

variable "worker_image" {
  description = "Worker image reference (built from deploy/worker.Dockerfile)."
  type        = string
}

variable "worker_tasks" {
  description = "TASK or TASK:MODEL entries the workers serve."
  type        = list(string)
  default     = ["inspect"]
}

variable "worker_replicas" {
  description = "Worker pods, one per GPU; keep at most gpu_max_count × GPUs per node."
  type        = number
  default     = 4
}

variable "worker_cpu" {
  description = "CPU request of a worker pod (NC40ads_H100_v5 has 40 vCPUs)."
  type        = string
  default     = "32"
}

variable "worker_memory" {
  description = "Memory request and limit of a worker pod (NC40ads_H100_v5 has 320 GiB)."
  type        = string
  default     = "256Gi"
}

variable "storage_replication_type" {
  description = "Replication of the storage account."
  type        = string
  default     = "ZRS"
}

variable "storage_soft_delete_retention_days" {
  description = "Days deleted blobs and containers stay recoverable."
  type        = number
  default     = 30
}

variable "storage_allowed_ip_ranges" {
  description = "Public addresses allowed to reach the storage account (e.g. to upload archives); empty keeps the public endpoint off."
  type        = list(string)
  default     = []
}

variable "storage_data_contributors" {
  description = "Further principals given Storage Blob Data Contributor (e.g. the team's group, principal_type = \"Group\")."
  type = map(object({
    principal_id   = string
    principal_type = optional(string, "ServicePrincipal")
  }))
  default = {}
}

variable "postgres_sku_name" {
  description = "PostgreSQL flexible server SKU."
  type        = string
  default     = "GP_Standard_D4ds_v5"
}

variable "postgres_storage_mb" {
  description = "PostgreSQL storage in MiB."
  type        = number
  default     = 262144
}

variable "postgres_backup_retention_days" {
  description = "Days of point-in-time restore."
  type        = number
  default     = 35
}

variable "postgres_geo_redundant_backup_enabled" {
  description = "Keep PostgreSQL backups in the paired region too."
  type        = bool
  default     = true
}

variable "postgres_high_availability" {
  description = "Zone-redundant PostgreSQL standby (not on Burstable SKUs)."
  type        = bool
  default     = true
}

variable "rabbitmq_memory_limit_mib" {
  description = "Memory of the RabbitMQ pod in MiB."
  type        = number
  default     = 4096
}

variable "rabbitmq_disk_size" {
  description = "Size of RabbitMQ's managed disk (Kubernetes quantity)."
  type        = string
  default     = "64Gi"
}

variable "hf_token" {
  description = "Hugging Face token for gated checkpoints; null when not needed. Pass it with TF_VAR_hf_token, not in a file."
  type        = string
  default     = null
  sensitive   = true
}

variable "fleet_settings" {
  description = "Extra BATCHVLM_* settings for the coordinator and the workers (non-secret)."
  type        = map(string)
  default     = {}
}
