# Terraform, provider and state settings of the dev environment.
# State lives in an Azure storage account (partial backend configuration: `terraform init -backend-config=backend.hcl`,
# see backend.hcl.example); it holds the generated PostgreSQL and RabbitMQ passwords, so that account must be private
# and access-controlled.
# The kubernetes provider talks to the cluster this configuration creates. On the first apply the cluster does not
# exist yet, so create it first (`terraform apply -target=module.batchvlm.module.gpu_pool`), then apply everything (README.md).

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
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  backend "azurerm" {}
}

provider "azurerm" {
  features {}
  # null falls back to ARM_SUBSCRIPTION_ID.
  subscription_id = var.subscription_id
  # The storage account has shared keys off; any data-plane call Terraform makes must use Azure AD.
  storage_use_azuread = true
}

provider "kubernetes" {
  host                   = module.batchvlm.kube_config.host
  client_certificate     = base64decode(module.batchvlm.kube_config.client_certificate)
  client_key             = base64decode(module.batchvlm.kube_config.client_key)
  cluster_ca_certificate = base64decode(module.batchvlm.kube_config.cluster_ca_certificate)
}
