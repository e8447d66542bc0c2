# Inputs of the gpu-pool module.

variable "name" {
  description = "Cluster name; also the DNS prefix and the prefix of the workload identities."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group that holds the cluster and the managed identities."
  type        = string
}

variable "location" {
  description = "Azure region of the cluster (must offer var.gpu_vm_size)."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes minor version (e.g. \"1.32\"); null takes the region's default. Patches follow automatically."
  type        = string
  default     = null
}

variable "sku_tier" {
  description = "AKS control plane tier: Free (no SLA, dev) or Standard (uptime SLA)."
  type        = string
  default     = "Standard"

  validation {
    condition     = contains(["Free", "Standard", "Premium"], var.sku_tier)
    error_message = "sku_tier must be Free, Standard or Premium."
  }
}

variable "subnet_id" {
  description = "Subnet for all node pools (network module output aks_nodes_subnet_id)."
  type        = string
}

variable "pod_cidr" {
  description = "Overlay pod address range; must not overlap the virtual network."
  type        = string
  default     = "10.244.0.0/16"
}

variable "service_cidr" {
  description = "Kubernetes service address range; must not overlap the virtual network. The DNS service takes its .10 address."
  type        = string
  default     = "10.240.0.0/16"
}

variable "zones" {
  description = "Availability zones of the system node pool."
  type        = list(string)
  default     = ["1", "2", "3"]
}

variable "system_vm_size" {
  description = "VM size of the system node pool (coordinator, RabbitMQ, add-ons)."
  type        = string
  default     = "Standard_D4ds_v5"
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

variable "gpu_pool_name" {
  description = "Name of the GPU node pool: lowercase letters and digits, at most 8 characters (a rotation pool adds \"tmp\")."
  type        = string
  default     = "gpu"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{0,7}$", var.gpu_pool_name))
    error_message = "gpu_pool_name must be 1-8 lowercase letters and digits, starting with a letter."
  }
}

variable "gpu_vm_size" {
  description = "GPU VM size, e.g. Standard_NC24ads_A100_v4 (1 × A100 80 GB) or Standard_NC40ads_H100_v5 (1 × H100 NVL 94 GB). Check the region's quota for the family first."
  type        = string
  default     = "Standard_NC24ads_A100_v4"
}

variable "gpu_min_count" {
  description = "Fewest GPU nodes; 0 lets the pool scale to nothing when no worker pods are scheduled."
  type        = number
  default     = 0
}

variable "gpu_max_count" {
  description = "Most GPU nodes (bounded by the subscription's GPU quota)."
  type        = number
  default     = 4

  validation {
    condition     = var.gpu_max_count >= 1
    error_message = "gpu_max_count must be at least 1."
  }
}

variable "gpu_zones" {
  description = "Availability zones of the GPU node pool; GPU SKUs are often in only some zones, so empty (no zone pinning) is the default."
  type        = list(string)
  default     = []
}

variable "gpu_os_disk_size_gb" {
  description = "OS disk of each GPU node in GB (holds the worker image and the model cache emptyDir)."
  type        = number
  default     = 512
}

variable "gpu_spot" {
  description = "Run the GPU pool on Spot VMs (evictable, much cheaper)."
  type        = bool
  default     = false
}

variable "container_registry_id" {
  description = "Azure Container Registry the images are pulled from (the kubelet identity gets AcrPull); null for none."
  type        = string
  default     = null
}

variable "nvidia_device_plugin_image" {
  description = "Image of the NVIDIA device plugin DaemonSet."
  type        = string
  default     = "nvcr.io/nvidia/k8s-device-plugin:v0.17.0"
}

variable "workload_identities" {
  description = "User-assigned managed identities to create and federate with the cluster, by name (e.g. worker, coordinator): the Kubernetes namespace and service account that may use each."
  type = map(object({
    namespace       = string
    service_account = string
  }))
  default = {}
}

variable "tags" {
  description = "Tags applied to every Azure resource of the module."
  type        = map(string)
  default     = {}
}
