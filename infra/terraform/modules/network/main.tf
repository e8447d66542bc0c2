# The fleet's virtual network: one subnet for the AKS nodes (pods use the Azure CNI overlay, so only nodes take
# addresses here), one delegated to Azure Database for PostgreSQL flexible server (private access), and one for
# private endpoints (the storage account's blob endpoint). Subnet ranges are carved from one address space with
# cidrsubnet so an environment only chooses that space.

terraform {
  required_version = ">= 1.6"
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.0"
    }
  }
}

locals {
  # /16 → nodes 10.x.0.0/20 (4,096 nodes' worth), postgres 10.x.16.0/24, private endpoints 10.x.17.0/24.
  aks_nodes_prefix         = cidrsubnet(var.address_space, 4, 0)
  postgres_prefix          = cidrsubnet(var.address_space, 8, 16)
  private_endpoints_prefix = cidrsubnet(var.address_space, 8, 17)
}

resource "azurerm_virtual_network" "this" {
  name                = var.name
  resource_group_name = var.resource_group_name
  location            = var.location
  address_space       = [var.address_space]
  tags                = var.tags
}

resource "azurerm_subnet" "aks_nodes" {
  name                 = "aks-nodes"
  resource_group_name  = var.resource_group_name
  virtual_network_name = azurerm_virtual_network.this.name
  address_prefixes     = [local.aks_nodes_prefix]
}

# A flexible server with private access needs a subnet delegated to it and used by nothing else.
resource "azurerm_subnet" "postgres" {
  name                 = "postgres"
  resource_group_name  = var.resource_group_name
  virtual_network_name = azurerm_virtual_network.this.name
  address_prefixes     = [local.postgres_prefix]

  delegation {
    name = "postgres-flexible-server"
    service_delegation {
      name    = "Microsoft.DBforPostgreSQL/flexibleServers"
      actions = ["Microsoft.Network/virtualNetworks/subnets/join/action"]
    }
  }
}

resource "azurerm_subnet" "private_endpoints" {
  name                              = "private-endpoints"
  resource_group_name               = var.resource_group_name
  virtual_network_name              = azurerm_virtual_network.this.name
  address_prefixes                  = [local.private_endpoints_prefix]
  private_endpoint_network_policies = "Disabled"
}
