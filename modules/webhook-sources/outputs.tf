output "endpoint_urls" {
  description = "The URL each source's sender POSTs to, by source name."
  value       = { for name, pipeline in nami_webhook_pipeline.source : name => pipeline.endpoint_url }
}

output "pipeline_names" {
  description = "Each source's pipeline name (for `nami status`, `nami tail`, the data source)."
  value       = { for name, pipeline in nami_webhook_pipeline.source : name => pipeline.name }
}

output "collections" {
  description = "The collection each source's webhooks are stored in, by source name."
  value       = { for name, pipeline in nami_webhook_pipeline.source : name => pipeline.store.collection }
}

output "queue_urls" {
  description = "Each source's queue, by source name."
  value       = { for name, pipeline in nami_webhook_pipeline.source : name => pipeline.queue_url }
}

output "dlq_urls" {
  description = "Each source's dead-letter queue, by source name."
  value       = { for name, pipeline in nami_webhook_pipeline.source : name => pipeline.dlq_url }
}

output "dashboard_urls" {
  description = "Each source's CloudWatch dashboard, by source name."
  value       = { for name, pipeline in nami_webhook_pipeline.source : name => pipeline.dashboard_url }
}

output "function_security_group_ids" {
  description = "Each source's post-queue function security group, by source name (null outside a VPC): admit it where the functions must reach."
  value       = { for name, pipeline in nami_webhook_pipeline.source : name => pipeline.security_group_id }
}

output "store_instance_ids" {
  description = "The managed store's EC2 instance of each source, by source name (null with a store you have)."
  value       = { for name, pipeline in nami_webhook_pipeline.source : name => pipeline.instance_id }
}

output "networks" {
  description = "Where each source's post-queue function (and managed store) runs, by source name: `vpc_id` and `subnet_ids` (null outside a VPC)."
  value = { for name, pipeline in nami_webhook_pipeline.source : name => {
    vpc_id     = pipeline.vpc_id
    subnet_ids = pipeline.subnet_ids
  } }
}
