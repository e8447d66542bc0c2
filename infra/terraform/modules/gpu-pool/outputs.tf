# Outputs of the gpu-pool module: how to reach the cluster, and the workload identities.

output "cluster_id" {
  description = "Resource ID of the AKS cluster."
  value       = azurerm_kubernetes_cluster.this.id
}

output "cluster_name" {
  description = "Name of the AKS cluster (az aks get-credentials -n ...)."
  value       = azurerm_kubernetes_cluster.this.name
}

output "kube_config" {
  description = "API server endpoint and client credentials (base64 PEM, as AKS returns them) for the kubernetes provider."
  value = {
    host                   = azurerm_kubernetes_cluster.this.kube_config[0].host
    client_certificate     = azurerm_kubernetes_cluster.this.kube_config[0].client_certificate
    client_key             = azurerm_kubernetes_cluster.this.kube_config[0].client_key
    cluster_ca_certificate = azurerm_kubernetes_cluster.this.kube_config[0].cluster_ca_certificate
  }
  sensitive = true
}

output "oidc_issuer_url" {
  description = "OIDC issuer URL of the cluster (workload identity federation)."
  value       = azurerm_kubernetes_cluster.this.oidc_issuer_url
}

output "workload_identity_client_ids" {
  description = "Client IDs of the workload identities by name: the azure.workload.identity/client-id service account annotation."
  value       = { for k, id in azurerm_user_assigned_identity.workload : k => id.client_id }
}

output "workload_identity_principal_ids" {
  description = "Principal (object) IDs of the workload identities by name, for role assignments."
  value       = { for k, id in azurerm_user_assigned_identity.workload : k => id.principal_id }
}

output "gpu_node_selector" {
  description = "Node labels that select the GPU pool."
  value       = local.gpu_pool_label
}

output "gpu_taint" {
  description = "Taint on the GPU nodes that GPU pods must tolerate (key=value:effect); Spot pools add kubernetes.azure.com/scalesetpriority=spot:NoSchedule."
  value       = local.gpu_taint
}
