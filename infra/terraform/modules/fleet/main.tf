# The BatchVlm processes on AKS: the coordinator Deployment (one replica; its state is in PostgreSQL) and the worker
# Deployment (one pod per GPU: each pod requests `nvidia.com/gpu: 1`, tolerates the GPU taint and selects the GPU
# pool). Both run the images of deploy/*.Dockerfile with the commands docker-compose.yml gives them.
# Configuration reaches them as BATCHVLM_<Section>__<Key> environment variables (BatchVlmConfiguration): plain
# settings from a ConfigMap, the PostgreSQL connection string and the RabbitMQ password from a Kubernetes Secret.
# Blob storage is reached with Storage:AccountUrl and no key: each Deployment has its own service account annotated
# with a workload identity, whose token DefaultAzureCredential picks up (AZURE_CLIENT_ID, AZURE_TENANT_ID and
# AZURE_FEDERATED_TOKEN_FILE are injected by the AKS workload identity webhook into pods labelled for it).

terraform {
  required_version = ">= 1.6"
  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.35"
    }
  }
}

locals {
  namespace = kubernetes_namespace_v1.this.metadata[0].name

  coordinator_labels = { "app.kubernetes.io/name" = "batchvlm-coordinator", "app.kubernetes.io/part-of" = "batchvlm" }
  worker_labels      = { "app.kubernetes.io/name" = "batchvlm-worker", "app.kubernetes.io/part-of" = "batchvlm" }

  # Non-secret settings; var.settings may add or override any BATCHVLM_* key (e.g. BATCHVLM_Worker__MaxShardDuration).
  settings = merge({
    BATCHVLM_RabbitMq__Host        = var.rabbitmq_host
    BATCHVLM_RabbitMq__Port        = tostring(var.rabbitmq_port)
    BATCHVLM_RabbitMq__VirtualHost = "/"
    BATCHVLM_RabbitMq__Username    = var.rabbitmq_username
    BATCHVLM_Storage__AccountUrl   = var.storage_account_url
    DOTNET_gcServer                = "0"
  }, var.settings)

  settings_sha = sha256(jsonencode(local.settings))
}

resource "kubernetes_namespace_v1" "this" {
  metadata {
    name   = var.namespace
    labels = { "app.kubernetes.io/part-of" = "batchvlm" }
  }
}

resource "kubernetes_config_map_v1" "settings" {
  metadata {
    name      = "batchvlm-settings"
    namespace = local.namespace
  }

  data = local.settings
}

resource "kubernetes_secret_v1" "settings" {
  metadata {
    name      = "batchvlm-secrets"
    namespace = local.namespace
  }

  data = merge(
    {
      BATCHVLM_ConnectionStrings__Postgres = var.postgres_connection_string
      BATCHVLM_RabbitMq__Password          = var.rabbitmq_password
    },
    var.hf_token == null ? {} : { HF_TOKEN = var.hf_token },
  )
}

resource "kubernetes_service_account_v1" "coordinator" {
  metadata {
    name        = var.coordinator_service_account
    namespace   = local.namespace
    annotations = { "azure.workload.identity/client-id" = var.coordinator_identity_client_id }
  }
}

resource "kubernetes_service_account_v1" "worker" {
  metadata {
    name        = var.worker_service_account
    namespace   = local.namespace
    annotations = { "azure.workload.identity/client-id" = var.worker_identity_client_id }
  }
}

resource "kubernetes_deployment_v1" "coordinator" {
  metadata {
    name      = "coordinator"
    namespace = local.namespace
    labels    = local.coordinator_labels
  }

  spec {
    # One coordinator; Recreate so a rollout never runs two lease monitors side by side.
    replicas = 1

    strategy {
      type = "Recreate"
    }

    selector {
      match_labels = local.coordinator_labels
    }

    template {
      metadata {
        labels = merge(local.coordinator_labels, { "azure.workload.identity/use" = "true" })
        annotations = {
          "batchvlm.io/settings-sha256" = local.settings_sha
        }
      }

      spec {
        service_account_name = kubernetes_service_account_v1.coordinator.metadata[0].name
        # SIGTERM lets it finish its current bookkeeping transaction (docker-compose.yml: stop_grace_period 30s).
        termination_grace_period_seconds = 30

        security_context {
          run_as_user     = 10001
          run_as_group    = 10001
          run_as_non_root = true
        }

        container {
          name  = "coordinator"
          image = var.coordinator_image
          args  = ["coordinator"]

          env_from {
            config_map_ref {
              name = kubernetes_config_map_v1.settings.metadata[0].name
            }
          }

          env_from {
            secret_ref {
              name = kubernetes_secret_v1.settings.metadata[0].name
            }
          }

          resources {
            requests = {
              cpu    = var.coordinator_cpu
              memory = var.coordinator_memory
            }
            limits = {
              memory = var.coordinator_memory
            }
          }

          security_context {
            allow_privilege_escalation = false
            read_only_root_filesystem  = true
            capabilities {
              drop = ["ALL"]
            }
          }

          # BATCHVLM_STATE=/tmp/batchvlm (deploy/*.Dockerfile) and .NET's own temporary files.
          volume_mount {
            name       = "tmp"
            mount_path = "/tmp"
          }
        }

        volume {
          name = "tmp"
          empty_dir {
            size_limit = "1Gi"
          }
        }
      }
    }
  }
}

resource "kubernetes_deployment_v1" "worker" {
  metadata {
    name      = "worker"
    namespace = local.namespace
    labels    = local.worker_labels
  }

  spec {
    # One pod per GPU: the cluster autoscaler adds GPU nodes (up to the pool's max) while worker pods are pending.
    replicas = var.worker_replicas

    # Replace one pod at a time without asking for an extra GPU during a rollout.
    strategy {
      type = "RollingUpdate"
      rolling_update {
        max_surge       = "0"
        max_unavailable = "1"
      }
    }

    selector {
      match_labels = local.worker_labels
    }

    template {
      metadata {
        labels = merge(local.worker_labels, { "azure.workload.identity/use" = "true" })
        annotations = {
          "batchvlm.io/settings-sha256" = local.settings_sha
        }
      }

      spec {
        service_account_name = kubernetes_service_account_v1.worker.metadata[0].name
        # On SIGTERM the worker stops fetching, finishes the items in flight, commits them, releases the lease and
        # re-queues the rest of the shard (FLEET.md "Shutdown"); Kubernetes must not SIGKILL it before that is done.
        termination_grace_period_seconds = var.worker_termination_grace_period_seconds
        node_selector                    = var.gpu_node_selector

        toleration {
          key      = "nvidia.com/gpu"
          operator = "Exists"
          effect   = "NoSchedule"
        }

        # Spot GPU pools carry this taint too (gpu-pool module, gpu_spot); an evicted worker's shard lease expires
        # and the coordinator re-sends the shard.
        toleration {
          key      = "kubernetes.azure.com/scalesetpriority"
          operator = "Equal"
          value    = "spot"
          effect   = "NoSchedule"
        }

        security_context {
          run_as_user     = 10001
          run_as_group    = 10001
          run_as_non_root = true
        }

        container {
          name  = "worker"
          image = var.worker_image
          args  = ["worker", "--tasks", join(",", var.worker_tasks)]

          env_from {
            config_map_ref {
              name = kubernetes_config_map_v1.settings.metadata[0].name
            }
          }

          env_from {
            secret_ref {
              name = kubernetes_secret_v1.settings.metadata[0].name
            }
          }

          # Model checkpoints (Hugging Face hub layout) are cached on the node's disk for the pod's lifetime.
          env {
            name  = "HF_HOME"
            value = "/cache/huggingface"
          }

          resources {
            requests = {
              cpu    = var.worker_cpu
              memory = var.worker_memory
            }
            limits = {
              memory           = var.worker_memory
              "nvidia.com/gpu" = "1"
            }
          }

          security_context {
            allow_privilege_escalation = false
            read_only_root_filesystem  = true
            capabilities {
              drop = ["ALL"]
            }
          }

          volume_mount {
            name       = "tmp"
            mount_path = "/tmp"
          }

          volume_mount {
            name       = "model-cache"
            mount_path = "/cache"
          }
        }

        volume {
          name = "tmp"
          empty_dir {
            size_limit = "8Gi"
          }
        }

        volume {
          name = "model-cache"
          empty_dir {
            size_limit = var.model_cache_size
          }
        }
      }
    }
  }

  # Scaling the pool to zero replicas is a normal state; do not wait for pods that cannot exist yet.
  wait_for_rollout = false
}

# Node drains and autoscaler scale-downs take workers away one at a time; each hands its shard back first.
resource "kubernetes_pod_disruption_budget_v1" "worker" {
  metadata {
    name      = "worker"
    namespace = local.namespace
  }

  spec {
    max_unavailable = "1"
    selector {
      match_labels = local.worker_labels
    }
  }
}
