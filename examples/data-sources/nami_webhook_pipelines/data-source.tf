data "nami_webhook_pipelines" "all" {}

output "backlog" {
  value = { for p in data.nami_webhook_pipelines.all.pipelines : p.name => p.queue_depth + p.dlq_depth }
}
