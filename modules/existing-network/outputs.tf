output "endpoint_urls" {
  description = "The URL each source's sender POSTs to, by source name."
  value       = module.sources.endpoint_urls
}

output "pipeline_names" {
  description = "Each source's pipeline name."
  value       = module.sources.pipeline_names
}

output "collections" {
  description = "The collection each source's webhooks are stored in, by source name."
  value       = module.sources.collections
}

output "function_security_group_ids" {
  description = "Each source's post-queue function security group, by source name: admit it in the security groups of what the functions must reach in the VPC (a store you run there)."
  value       = module.sources.function_security_group_ids
}

output "store" {
  description = "The managed store in the private subnets every source joins (null with a store you run): `id`, `instance_id`, `private_ip`, `security_group_id`, `root_secret_arn`, `data_volume_id`."
  value       = module.sources.store
}

output "dashboard_urls" {
  description = "Each source's CloudWatch dashboard, by source name."
  value       = module.sources.dashboard_urls
}

output "networks" {
  description = "Where each source's post-queue function and store run, by source name: `vpc_id` and `subnet_ids`."
  value       = module.sources.networks
}
