# Inputs of the fleet module.

variable "namespace" {
  description = "Kubernetes namespace created for the coordinator and the workers (the workload identities are federated for it)."
  type        = string
  default     = "batchvlm"
}

variable "coordinator_service_account" {
  description = "Service account of the coordinator pods; must match the subject its workload identity is federated for."
  type        = string
  default     = "batchvlm-coordinator"
}

variable "worker_service_account" {
  description = "Service account of the worker pods; must match the subject its workload identity is federated for."
  type        = string
  default     = "batchvlm-worker"
}

variable "coordinator_image" {
  description = "Coordinator image (deploy/coordinator.Dockerfile), e.g. myregistry.azurecr.io/batchvlm/coordinator:1.0.0."
  type        = string
}

variable "worker_image" {
  description = "Worker image (deploy/worker.Dockerfile) with the CUDA libraries, e.g. myregistry.azurecr.io/batchvlm/worker:1.0.0."
  type        = string
}

variable "worker_tasks" {
  description = "What the workers serve: TASK or TASK:MODEL entries for `batchvlm worker --tasks` (e.g. embed:google/siglip-base-patch16-224)."
  type        = list(string)
  default     = ["inspect"]

  validation {
    condition     = length(var.worker_tasks) > 0
    error_message = "worker_tasks must name at least one task."
  }
}

variable "worker_replicas" {
  description = "Worker pods, one per GPU (a node of a 1-GPU size runs one). 0 stops all workers and lets the GPU pool scale to zero."
  type        = number
  default     = 1

  validation {
    condition     = var.worker_replicas >= 0
    error_message = "worker_replicas cannot be negative."
  }
}

variable "worker_termination_grace_period_seconds" {
  description = "Time a worker gets after SIGTERM to finish its items in flight and hand the shard back before it is killed. Default 300 s."
  type        = number
  default     = 300

  validation {
    condition     = var.worker_termination_grace_period_seconds >= 60
    error_message = "worker_termination_grace_period_seconds must be at least 60: a shard hand-back commits the items in flight first."
  }
}

variable "worker_cpu" {
  description = "CPU request of a worker pod (decode/preprocess threads); leave room for the node's daemons."
  type        = string
  default     = "16"
}

variable "worker_memory" {
  description = "Memory request and limit of a worker pod (decoded images, model weights on the host side)."
  type        = string
  default     = "96Gi"
}

variable "model_cache_size" {
  description = "Size limit of the per-pod model cache (HF_HOME) on the node's disk."
  type        = string
  default     = "200Gi"
}

variable "coordinator_cpu" {
  description = "CPU request of the coordinator pod."
  type        = string
  default     = "500m"
}

variable "coordinator_memory" {
  description = "Memory request and limit of the coordinator pod."
  type        = string
  default     = "1Gi"
}

variable "gpu_node_selector" {
  description = "Node labels selecting the GPU pool (gpu-pool module output gpu_node_selector)."
  type        = map(string)
}

variable "coordinator_identity_client_id" {
  description = "Client ID of the coordinator's workload identity (gpu-pool output workload_identity_client_ids[\"coordinator\"])."
  type        = string
}

variable "worker_identity_client_id" {
  description = "Client ID of the workers' workload identity (gpu-pool output workload_identity_client_ids[\"worker\"])."
  type        = string
}

variable "storage_account_url" {
  description = "Blob service URL for Storage:AccountUrl (storage module output account_url)."
  type        = string
}

variable "postgres_connection_string" {
  description = "Npgsql connection string for ConnectionStrings:Postgres (postgres module output connection_string)."
  type        = string
  sensitive   = true
}

variable "rabbitmq_host" {
  description = "Broker host for RabbitMq:Host (rabbitmq module output host)."
  type        = string
}

variable "rabbitmq_port" {
  description = "AMQP port for RabbitMq:Port."
  type        = number
  default     = 5672
}

variable "rabbitmq_username" {
  description = "Broker user for RabbitMq:Username."
  type        = string
}

variable "rabbitmq_password" {
  description = "Broker password for RabbitMq:Password; stored in the Kubernetes secret."
  type        = string
  sensitive   = true
}

variable "hf_token" {
  description = "Hugging Face token for gated checkpoints (PaliGemma); null when all models are public. Stored in the Kubernetes secret."
  type        = string
  default     = null
  sensitive   = true
}

variable "settings" {
  description = "Extra non-secret environment variables for both Deployments, e.g. { BATCHVLM_Worker__MaxShardDuration = \"00:20:00\" }."
  type        = map(string)
  default     = {}
}
