resource "nami_webhook_pipeline" "stripe" {
  name = "stripe-events"

  signature {
    scheme     = "stripe"
    secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:stripe-webhook-AbCdEf"
  }

  post_queue {
    batch_size              = 100
    batching_window_seconds = 2
    max_concurrency         = 5 # at most 5 writers, however large the burst
  }

  store {
    mongodb_uri = var.mongodb_uri
  }

  tags = {
    service = "billing"
  }
}

variable "mongodb_uri" {
  type      = string
  sensitive = true
}

output "stripe_endpoint" {
  value = nami_webhook_pipeline.stripe.endpoint_url
}
