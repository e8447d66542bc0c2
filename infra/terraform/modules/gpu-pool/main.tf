# The AKS cluster the fleet runs on: a system node pool (coordinator, RabbitMQ, cluster add-ons) and an autoscaled
# GPU node pool for the workers (one worker pod per GPU). GPU nodes are tainted so only pods that tolerate the taint
# (the workers, the NVIDIA device plugin) land there, and labelled so those pods can select them.
# The NVIDIA device plugin DaemonSet advertises `nvidia.com/gpu` on the GPU nodes (AKS installs the driver on its
# GPU node images; the plugin is the part AKS leaves to the user: learn.microsoft.com "Use GPUs on AKS", the
# manifest of NVIDIA/k8s-device-plugin deployments/static/nvidia-device-plugin.yml).
# Workload identity: the cluster's OIDC issuer is federated with one user-assigned managed identity per entry of
# var.workload_identities (namespace + service account), which the fleet module's pods then use for blob storage.

terraform {
  required_version = ">= 1.6"
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 2.35"
    }
  }
}

locals {
  gpu_pool_label = { "batchvlm.io/pool" = "gpu" }
  # nvidia.com/gpu.present is what the device plugin's own chart selects on; set it so either way of deploying it fits.
  gpu_node_labels = merge(local.gpu_pool_label, { "nvidia.com/gpu.present" = "true" }, local.spot_labels)
  gpu_taint       = "nvidia.com/gpu=present:NoSchedule"

  # AKS puts this label and taint on every Spot pool itself; declaring them keeps Terraform from seeing drift and
  # replacing the pool. Pods that should run there (workers, device plugin) tolerate the taint.
  spot_labels = var.gpu_spot ? { "kubernetes.azure.com/scalesetpriority" = "spot" } : {}
  spot_taints = var.gpu_spot ? ["kubernetes.azure.com/scalesetpriority=spot:NoSchedule"] : []
}

resource "azurerm_kubernetes_cluster" "this" {
  name                              = var.name
  resource_group_name               = var.resource_group_name
  location                          = var.location
  dns_prefix                        = var.name
  kubernetes_version                = var.kubernetes_version
  sku_tier                          = var.sku_tier
  oidc_issuer_enabled               = true
  workload_identity_enabled         = true
  role_based_access_control_enabled = true
  automatic_upgrade_channel         = "patch"
  node_os_upgrade_channel           = "NodeImage"

  default_node_pool {
    name                        = "system"
    temporary_name_for_rotation = "systemtmp"
    vm_size                     = var.system_vm_size
    vnet_subnet_id              = var.subnet_id
    zones                       = var.zones
    auto_scaling_enabled        = true
    min_count                   = var.system_min_count
    max_count                   = var.system_max_count
    os_disk_size_gb             = 128

    upgrade_settings {
      max_surge = "33%"
    }
  }

  identity {
    type = "SystemAssigned"
  }

  network_profile {
    network_plugin      = "azure"
    network_plugin_mode = "overlay"
    network_policy      = "azure"
    pod_cidr            = var.pod_cidr
    service_cidr        = var.service_cidr
    dns_service_ip      = cidrhost(var.service_cidr, 10)
    load_balancer_sku   = "standard"
  }

  tags = var.tags

  lifecycle {
    # The autoscaler owns the node count.
    ignore_changes = [default_node_pool[0].node_count]
  }
}

# With a bring-your-own subnet the cluster identity manages load balancers and routes in it.
resource "azurerm_role_assignment" "cluster_network_contributor" {
  scope                = var.subnet_id
  role_definition_name = "Network Contributor"
  principal_id         = azurerm_kubernetes_cluster.this.identity[0].principal_id
  principal_type       = "ServicePrincipal"
}

# Image pulls from the team's registry, when one is given.
resource "azurerm_role_assignment" "kubelet_acr_pull" {
  count = var.container_registry_id == null ? 0 : 1

  scope                = var.container_registry_id
  role_definition_name = "AcrPull"
  principal_id         = azurerm_kubernetes_cluster.this.kubelet_identity[0].object_id
  principal_type       = "ServicePrincipal"
}

resource "azurerm_kubernetes_cluster_node_pool" "gpu" {
  name                        = var.gpu_pool_name
  temporary_name_for_rotation = "${var.gpu_pool_name}tmp"
  kubernetes_cluster_id       = azurerm_kubernetes_cluster.this.id
  vm_size                     = var.gpu_vm_size
  vnet_subnet_id              = var.subnet_id
  zones                       = var.gpu_zones
  auto_scaling_enabled        = true
  min_count                   = var.gpu_min_count
  max_count                   = var.gpu_max_count
  # CUDA libraries in the worker image plus the Hugging Face model cache live on the node disk.
  os_disk_size_gb = var.gpu_os_disk_size_gb
  node_labels     = local.gpu_node_labels
  node_taints     = concat([local.gpu_taint], local.spot_taints)

  # Spot capacity is far cheaper for batch work; an evicted worker's shard lease expires and the coordinator
  # re-sends it (coordinator/BatchVlm.Coordinator/FLEET.md), so no work is lost, only time.
  priority        = var.gpu_spot ? "Spot" : "Regular"
  eviction_policy = var.gpu_spot ? "Delete" : null
  spot_max_price  = var.gpu_spot ? -1 : null

  tags = var.tags

  lifecycle {
    ignore_changes = [node_count]
  }
}

resource "azurerm_user_assigned_identity" "workload" {
  for_each = var.workload_identities

  name                = "${var.name}-${each.key}"
  resource_group_name = var.resource_group_name
  location            = var.location
  tags                = var.tags
}

resource "azurerm_federated_identity_credential" "workload" {
  for_each = var.workload_identities

  name                = "${var.name}-${each.key}"
  resource_group_name = var.resource_group_name
  parent_id           = azurerm_user_assigned_identity.workload[each.key].id
  audience            = ["api://AzureADTokenExchange"]
  issuer              = azurerm_kubernetes_cluster.this.oidc_issuer_url
  subject             = "system:serviceaccount:${each.value.namespace}:${each.value.service_account}"
}

resource "kubernetes_namespace_v1" "gpu_resources" {
  metadata {
    name = "gpu-resources"
  }

  depends_on = [azurerm_kubernetes_cluster_node_pool.gpu]
}

resource "kubernetes_daemon_set_v1" "nvidia_device_plugin" {
  metadata {
    name      = "nvidia-device-plugin-daemonset"
    namespace = kubernetes_namespace_v1.gpu_resources.metadata[0].name
  }

  spec {
    selector {
      match_labels = { name = "nvidia-device-plugin-ds" }
    }

    strategy {
      type = "RollingUpdate"
    }

    template {
      metadata {
        labels = { name = "nvidia-device-plugin-ds" }
      }

      spec {
        priority_class_name = "system-node-critical"
        node_selector       = local.gpu_pool_label

        toleration {
          key      = "nvidia.com/gpu"
          operator = "Exists"
          effect   = "NoSchedule"
        }

        toleration {
          key      = "kubernetes.azure.com/scalesetpriority"
          operator = "Equal"
          value    = "spot"
          effect   = "NoSchedule"
        }

        container {
          name  = "nvidia-device-plugin-ctr"
          image = var.nvidia_device_plugin_image

          env {
            # Keep running (and advertise nothing) on a node whose driver is not ready yet instead of crash-looping.
            name  = "FAIL_ON_INIT_ERROR"
            value = "false"
          }

          security_context {
            allow_privilege_escalation = false
            capabilities {
              drop = ["ALL"]
            }
          }

          volume_mount {
            name       = "device-plugin"
            mount_path = "/var/lib/kubelet/device-plugins"
          }
        }

        volume {
          name = "device-plugin"
          host_path {
            path = "/var/lib/kubelet/device-plugins"
          }
        }
      }
    }
  }
}
