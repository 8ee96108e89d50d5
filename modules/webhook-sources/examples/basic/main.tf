# Three webhook sources of one team, each its own pipeline, all stored in the team's MongoDB
# (one database, a collection per source).

terraform {
  required_providers {
    nami = {
      source = "nami-serverless/nami"
    }
  }
}

provider "nami" {
  region = "eu-west-1"
}

variable "mongodb_uri_secret_arn" {
  description = "The Secrets Manager secret holding the team's MongoDB connection string."
  type        = string
}

module "webhooks" {
  source = "../.."

  name_prefix = "acme-"
  store = {
    mongodb_uri_secret_arn = var.mongodb_uri_secret_arn
  }

  sources = {
    github = {
      scheme     = "github"
      secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:acme/github-webhook-AbCdEf"
    }
    stripe = {
      scheme     = "stripe"
      secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:acme/stripe-webhook-AbCdEf"
      collection = "payments"
      batch      = { max_concurrency = 10 }
    }
    partner = {
      scheme     = "hmac"
      secret_arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/acme/partner-webhook"
      hmac       = { header = "X-Partner-Signature", prefix = "sha256=" }
      throttle   = { rate = 50, burst = 100 }
    }
  }
}

output "endpoint_urls" {
  description = "Give each sender its URL."
  value       = module.webhooks.endpoint_urls
}
