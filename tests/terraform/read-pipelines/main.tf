# Reads pipelines back from AWS through the provider's own data sources: what the tests assert
# against is what the provider finds, not what the module's outputs say.
terraform {
  required_providers {
    nami = {
      source = "nami-serverless/nami"
    }
  }
}

variable "names" {
  description = "The pipelines to read."
  type        = set(string)
}

data "nami_webhook_pipeline" "each" {
  for_each = var.names
  name     = each.key
}

data "nami_webhook_pipelines" "all" {}

output "stores" {
  description = "Each pipeline's database/collection, as its post-queue function is configured."
  value       = { for name, pipeline in data.nami_webhook_pipeline.each : name => "${pipeline.database}/${pipeline.collection}" }
}

output "endpoint_urls" {
  description = "Each pipeline's endpoint."
  value       = { for name, pipeline in data.nami_webhook_pipeline.each : name => pipeline.endpoint_url }
}

output "listed" {
  description = "Every pipeline in the account and region."
  value       = sort([for pipeline in data.nami_webhook_pipelines.all.pipelines : pipeline.name])
}
