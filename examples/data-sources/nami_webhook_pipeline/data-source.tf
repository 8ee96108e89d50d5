data "nami_webhook_pipeline" "stripe" {
  name = "stripe-events"
}

output "dlq_url" {
  value = data.nami_webhook_pipeline.stripe.dlq_url
}
