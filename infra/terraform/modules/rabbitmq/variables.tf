# Inputs of the rabbitmq module.

variable "namespace" {
  description = "Kubernetes namespace created for the broker."
  type        = string
  default     = "rabbitmq"
}

variable "image" {
  description = "RabbitMQ image (the one docker-compose.yml runs)."
  type        = string
  default     = "rabbitmq:3.13-management"
}

variable "username" {
  description = "User the fleet connects as (RABBITMQ_DEFAULT_USER)."
  type        = string
  default     = "batchvlm"
}

variable "password" {
  description = "Password of that user (RABBITMQ_DEFAULT_PASS); kept in a Kubernetes secret. Read at the broker's first start only: changing it later needs rabbitmqctl change_password."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.password) >= 16
    error_message = "password must be at least 16 characters."
  }
}

variable "consumer_timeout_ms" {
  description = "RabbitMQ consumer_timeout in milliseconds: a delivery unacknowledged this long closes its channel. Must stay above the workers' Worker:MaxShardDuration (default 20 min). Default 1800000 (30 min)."
  type        = number
  default     = 1800000

  validation {
    condition     = var.consumer_timeout_ms >= 1500000
    error_message = "consumer_timeout_ms below 25 minutes leaves too little room over Worker:MaxShardDuration (20 min by default)."
  }
}

variable "cpu_request" {
  description = "CPU request of the broker pod."
  type        = string
  default     = "500m"
}

variable "memory_limit_mib" {
  description = "Memory request and limit of the broker pod in MiB; RabbitMQ is told the same figure."
  type        = number
  default     = 2048
}

variable "storage_class_name" {
  description = "Storage class of the data volume: AKS's managed-csi-premium is a Premium SSD managed disk."
  type        = string
  default     = "managed-csi-premium"
}

variable "disk_size" {
  description = "Size of the data volume (Kubernetes quantity)."
  type        = string
  default     = "32Gi"
}

variable "client_namespaces" {
  description = "Namespaces whose pods may connect (AMQP 5672, management 15672)."
  type        = list(string)
  default     = ["batchvlm"]
}
