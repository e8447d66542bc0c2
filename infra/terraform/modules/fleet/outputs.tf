# Outputs of the fleet module.

output "namespace" {
  description = "Namespace of the coordinator and the workers."
  value       = local.namespace
}

output "coordinator_deployment" {
  description = "Name of the coordinator Deployment (kubectl -n <namespace> exec deploy/<name> -- ... runs CLI commands in the cluster)."
  value       = kubernetes_deployment_v1.coordinator.metadata[0].name
}

output "worker_deployment" {
  description = "Name of the worker Deployment (kubectl scale changes the GPU count until the next apply)."
  value       = kubernetes_deployment_v1.worker.metadata[0].name
}

output "service_accounts" {
  description = "Service accounts by role; the workload identities are federated for system:serviceaccount:<namespace>:<name>."
  value = {
    coordinator = kubernetes_service_account_v1.coordinator.metadata[0].name
    worker      = kubernetes_service_account_v1.worker.metadata[0].name
  }
}
