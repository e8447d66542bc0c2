# RabbitMQ for the fleet, run in the AKS cluster as a one-replica StatefulSet with its data on an Azure managed disk
# (a Premium SSD persistent volume), a ClusterIP service for AMQP and management, and a NetworkPolicy that admits only
# the fleet's namespace. Same image as docker-compose.yml (rabbitmq:3.13-management), same credentials scheme
# (RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS). Why a StatefulSet and not Azure Container Instances: README.md.
# consumer_timeout is written explicitly (30 min, RabbitMQ's default) because the worker relies on it:
# Worker:MaxShardDuration (20 min) hands a long shard back before the broker would close the channel.

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
  labels    = { "app.kubernetes.io/name" = "rabbitmq", "app.kubernetes.io/part-of" = "batchvlm" }
  namespace = kubernetes_namespace_v1.this.metadata[0].name
}

resource "kubernetes_namespace_v1" "this" {
  metadata {
    name   = var.namespace
    labels = local.labels
  }
}

resource "kubernetes_secret_v1" "credentials" {
  metadata {
    name      = "rabbitmq-credentials"
    namespace = local.namespace
    labels    = local.labels
  }

  data = {
    username = var.username
    password = var.password
  }
}

# A conf.d drop-in beside the image's 10-defaults.conf (mounted as one file so the defaults stay).
resource "kubernetes_config_map_v1" "config" {
  metadata {
    name      = "rabbitmq-config"
    namespace = local.namespace
    labels    = local.labels
  }

  data = {
    "20-batchvlm.conf" = <<-EOT
      # Unacknowledged deliveries older than this close their channel (ms). Keep above Worker:MaxShardDuration.
      consumer_timeout = ${var.consumer_timeout_ms}
      # The container's memory limit, so the high watermark is a share of it rather than of the node's memory.
      total_memory_available_override_value = ${var.memory_limit_mib * 1048576}
      vm_memory_high_watermark.relative = 0.6
      disk_free_limit.absolute = 2GB
    EOT
  }
}

resource "kubernetes_service_v1" "headless" {
  metadata {
    name      = "rabbitmq-headless"
    namespace = local.namespace
    labels    = local.labels
  }

  spec {
    cluster_ip                  = "None"
    publish_not_ready_addresses = true
    selector                    = local.labels

    port {
      name = "amqp"
      port = 5672
    }
  }
}

resource "kubernetes_service_v1" "this" {
  metadata {
    name      = "rabbitmq"
    namespace = local.namespace
    labels    = local.labels
  }

  spec {
    type     = "ClusterIP"
    selector = local.labels

    port {
      name        = "amqp"
      port        = 5672
      target_port = "amqp"
    }

    port {
      name        = "management"
      port        = 15672
      target_port = "management"
    }
  }
}

resource "kubernetes_stateful_set_v1" "this" {
  metadata {
    name      = "rabbitmq"
    namespace = local.namespace
    labels    = local.labels
  }

  spec {
    # One node: the fleet's queues are durable classic queues, which a cluster would not replicate anyway
    # (coordinator/BatchVlm.Coordinator/FLEET.md); the managed disk carries them across restarts.
    replicas     = 1
    service_name = kubernetes_service_v1.headless.metadata[0].name

    selector {
      match_labels = local.labels
    }

    template {
      metadata {
        labels = local.labels
        annotations = {
          # Roll the pod when the configuration changes.
          "batchvlm.io/config-sha256" = sha256(kubernetes_config_map_v1.config.data["20-batchvlm.conf"])
        }
      }

      spec {
        termination_grace_period_seconds = 120

        # The image runs as rabbitmq (999); fs_group makes the fresh disk writable for it.
        security_context {
          run_as_user     = 999
          run_as_group    = 999
          fs_group        = 999
          run_as_non_root = true
        }

        container {
          name  = "rabbitmq"
          image = var.image

          port {
            name           = "amqp"
            container_port = 5672
          }

          port {
            name           = "management"
            container_port = 15672
          }

          env {
            name = "RABBITMQ_DEFAULT_USER"
            value_from {
              secret_key_ref {
                name = kubernetes_secret_v1.credentials.metadata[0].name
                key  = "username"
              }
            }
          }

          env {
            name = "RABBITMQ_DEFAULT_PASS"
            value_from {
              secret_key_ref {
                name = kubernetes_secret_v1.credentials.metadata[0].name
                key  = "password"
              }
            }
          }

          resources {
            requests = {
              cpu    = var.cpu_request
              memory = "${var.memory_limit_mib}Mi"
            }
            limits = {
              memory = "${var.memory_limit_mib}Mi"
            }
          }

          # `ping` answers before the listeners are up (research/infra-probe.md §1); check_port_connectivity does not.
          readiness_probe {
            exec {
              command = ["rabbitmq-diagnostics", "-q", "check_port_connectivity"]
            }
            initial_delay_seconds = 20
            period_seconds        = 10
            timeout_seconds       = 10
          }

          liveness_probe {
            exec {
              command = ["rabbitmq-diagnostics", "-q", "status"]
            }
            initial_delay_seconds = 60
            period_seconds        = 30
            timeout_seconds       = 20
            failure_threshold     = 6
          }

          volume_mount {
            name       = "data"
            mount_path = "/var/lib/rabbitmq"
          }

          volume_mount {
            name       = "config"
            mount_path = "/etc/rabbitmq/conf.d/20-batchvlm.conf"
            sub_path   = "20-batchvlm.conf"
            read_only  = true
          }
        }

        volume {
          name = "config"
          config_map {
            name = kubernetes_config_map_v1.config.metadata[0].name
          }
        }
      }
    }

    volume_claim_template {
      metadata {
        name   = "data"
        labels = local.labels
      }

      spec {
        access_modes       = ["ReadWriteOnce"]
        storage_class_name = var.storage_class_name

        resources {
          requests = {
            storage = var.disk_size
          }
        }
      }
    }
  }
}

# Only the fleet's namespaces reach the broker.
resource "kubernetes_network_policy_v1" "this" {
  metadata {
    name      = "rabbitmq-clients"
    namespace = local.namespace
  }

  spec {
    pod_selector {
      match_labels = local.labels
    }

    policy_types = ["Ingress"]

    ingress {
      dynamic "from" {
        for_each = toset(var.client_namespaces)
        content {
          namespace_selector {
            match_labels = { "kubernetes.io/metadata.name" = from.value }
          }
        }
      }

      port {
        port     = "5672"
        protocol = "TCP"
      }

      port {
        port     = "15672"
        protocol = "TCP"
      }
    }
  }
}
