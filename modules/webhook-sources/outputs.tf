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

output "store" {
  description = "The managed store every source joins (null with a store you have): its `id` (name), `instance_id`, `private_ip`, `security_group_id`, `root_secret_arn` (the operator's password) and `data_volume_id`."
  value = one([for store in nami_mongodb_store.shared : {
    id                = store.id
    instance_id       = store.instance_id
    private_ip        = store.private_ip
    security_group_id = store.security_group_id
    root_secret_arn   = store.root_secret_arn
    data_volume_id    = store.data_volume_id
  }])
}

output "networks" {
  description = "Where each source's post-queue function (and managed store) runs, by source name: `vpc_id` and `subnet_ids` (null outside a VPC)."
  value = { for name, pipeline in nami_webhook_pipeline.source : name => {
    vpc_id     = pipeline.vpc_id
    subnet_ids = pipeline.subnet_ids
  } }
}
