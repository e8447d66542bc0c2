# Blob storage of the fleet: one StorageV2 account with private containers for the image archives (inputs) and the
# result files (results). Access is Azure AD only (shared keys off): the coordinator and the workers sign in with
# their workload identities and reach the account through Storage:AccountUrl (storage/BatchVlm.Storage
# BlobStorageOptions.AccountUrl → DefaultAzureCredential → WorkloadIdentityCredential in the pod).
# Blob versioning and soft delete keep an overwritten or deleted blob recoverable; a lifecycle rule removes old
# versions so a re-run job does not grow the account without bound.

terraform {
  required_version = ">= 1.6"
  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.0"
    }
  }
}

resource "azurerm_storage_account" "this" {
  name                              = var.name
  resource_group_name               = var.resource_group_name
  location                          = var.location
  account_kind                      = "StorageV2"
  account_tier                      = "Standard"
  account_replication_type          = var.replication_type
  access_tier                       = "Hot"
  min_tls_version                   = "TLS1_2"
  https_traffic_only_enabled        = true
  allow_nested_items_to_be_public   = false
  shared_access_key_enabled         = false
  default_to_oauth_authentication   = true
  infrastructure_encryption_enabled = true
  public_network_access_enabled     = var.public_network_access_enabled

  blob_properties {
    versioning_enabled = true

    delete_retention_policy {
      days = var.soft_delete_retention_days
    }

    container_delete_retention_policy {
      days = var.soft_delete_retention_days
    }
  }

  # Only used while public network access is on (e.g. an operator uploading archives from a fixed address);
  # with it off, the private endpoint below is the only way in.
  network_rules {
    default_action = "Deny"
    bypass         = ["AzureServices"]
    ip_rules       = var.allowed_ip_ranges
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.public_network_access_enabled || var.private_endpoint_subnet_id != null
      error_message = "With public_network_access_enabled = false the account needs private_endpoint_subnet_id, or nothing can reach it."
    }
  }
}

# Containers are created through the management plane (storage_account_id), so Terraform needs no data-plane access
# to an account whose shared keys and public endpoint are off.
resource "azurerm_storage_container" "this" {
  for_each = toset(var.containers)

  name                  = each.value
  storage_account_id    = azurerm_storage_account.this.id
  container_access_type = "private"
}

resource "azurerm_storage_management_policy" "this" {
  storage_account_id = azurerm_storage_account.this.id

  rule {
    name    = "expire-old-versions"
    enabled = true

    filters {
      blob_types = ["blockBlob"]
    }

    actions {
      version {
        delete_after_days_since_creation = var.version_retention_days
      }
    }
  }
}

# Private endpoint for the blob service plus the privatelink DNS zone, so <account>.blob.core.windows.net resolves to
# a private address inside the virtual network (the AKS pods use Azure DNS, which follows the zone link).
resource "azurerm_private_dns_zone" "blob" {
  count = var.private_endpoint_subnet_id == null ? 0 : 1

  name                = "privatelink.blob.core.windows.net"
  resource_group_name = var.resource_group_name
  tags                = var.tags
}

resource "azurerm_private_dns_zone_virtual_network_link" "blob" {
  count = var.private_endpoint_subnet_id == null ? 0 : 1

  name                  = "${var.name}-blob"
  resource_group_name   = var.resource_group_name
  private_dns_zone_name = azurerm_private_dns_zone.blob[0].name
  virtual_network_id    = var.virtual_network_id
  tags                  = var.tags
}

resource "azurerm_private_endpoint" "blob" {
  count = var.private_endpoint_subnet_id == null ? 0 : 1

  name                = "${var.name}-blob"
  resource_group_name = var.resource_group_name
  location            = var.location
  subnet_id           = var.private_endpoint_subnet_id
  tags                = var.tags

  private_service_connection {
    name                           = "${var.name}-blob"
    private_connection_resource_id = azurerm_storage_account.this.id
    subresource_names              = ["blob"]
    is_manual_connection           = false
  }

  private_dns_zone_group {
    name                 = "blob"
    private_dns_zone_ids = [azurerm_private_dns_zone.blob[0].id]
  }
}

# Storage Blob Data Contributor for the workers (read inputs, write results) and anyone else given here; the keys of
# the maps are fixed names so for_each is known at plan time even when the principal IDs are not.
resource "azurerm_role_assignment" "blob_data_contributor" {
  for_each = var.blob_data_contributors

  scope                = azurerm_storage_account.this.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = each.value.principal_id
  principal_type       = each.value.principal_type
}

# Storage Blob Data Reader for principals that only list and read (the coordinator: `submit` lists the archive).
resource "azurerm_role_assignment" "blob_data_reader" {
  for_each = var.blob_data_readers

  scope                = azurerm_storage_account.this.id
  role_definition_name = "Storage Blob Data Reader"
  principal_id         = each.value.principal_id
  principal_type       = each.value.principal_type
}
