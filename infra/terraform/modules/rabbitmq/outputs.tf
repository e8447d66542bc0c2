# Outputs of the rabbitmq module: the RabbitMq:* settings of the fleet.

output "host" {
  description = "In-cluster host name of the broker (RabbitMq:Host)."
  value       = "${kubernetes_service_v1.this.metadata[0].name}.${local.namespace}.svc.cluster.local"
}

output "port" {
  description = "AMQP port (RabbitMq:Port)."
  value       = 5672
}

output "management_port" {
  description = "Management UI/API port (reach it with kubectl port-forward)."
  value       = 15672
}

output "username" {
  description = "User the fleet connects as (RabbitMq:Username)."
  value       = var.username
}

output "namespace" {
  description = "Namespace of the broker."
  value       = local.namespace
}

output "consumer_timeout_ms" {
  description = "consumer_timeout the broker runs with, in milliseconds."
  value       = var.consumer_timeout_ms
}
