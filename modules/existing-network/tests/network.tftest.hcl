# `terraform test` against the local emulators (make testmodules): the VPC and its private
# subnets are made in moto beforehand and given as -var vpc_id=… -var private_subnet_ids=[…], with
# the secret of a store the team runs there (-var team_store_secret_arn=…).

variable "endpoint" {
  description = "The emulator's URL (moto), given by make testmodules."
  type        = string
}

variable "team_store_secret_arn" {
  description = "A secret in moto holding the connection string of a store the team runs in the VPC, given by make testmodules."
  type        = string
}

provider "nami" {
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true

  endpoints {
    apigateway     = var.endpoint
    cloudwatch     = var.endpoint
    dynamodb       = var.endpoint
    ec2            = var.endpoint
    iam            = var.endpoint
    lambda         = var.endpoint
    logs           = var.endpoint
    secretsmanager = var.endpoint
    sqs            = var.endpoint
    ssm            = var.endpoint
    sts            = var.endpoint
  }
}

variables {
  name_prefix = "tfn-"
  store       = { managed = { retain_volume = false } }
  sources = {
    github = {
      scheme     = "github"
      secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:github-hook-AbCdEf"
    }
    shopify = {
      scheme     = "shopify"
      secret_arn = "arn:aws:ssm:us-east-1:123456789012:parameter/webhooks/shopify"
      batch      = { max_concurrency = 3 }
    }
  }
}

run "pipelines_and_their_stores_in_the_private_subnets" {
  assert {
    condition     = keys(output.endpoint_urls) == ["github", "shopify"]
    error_message = "one endpoint per source: ${jsonencode(output.endpoint_urls)}"
  }
  assert {
    condition     = alltrue([for network in values(output.networks) : network.vpc_id == var.vpc_id && toset(network.subnet_ids) == toset(var.private_subnet_ids)])
    error_message = "every function and store is in the given VPC's private subnets: ${jsonencode(output.networks)}"
  }
  assert {
    condition     = alltrue([for id in values(output.function_security_group_ids) : startswith(id, "sg-")])
    error_message = "each function has its security group in the VPC: ${jsonencode(output.function_security_group_ids)}"
  }
  assert {
    condition     = startswith(output.store.instance_id, "i-") && output.store.id == "tfn-sources"
    error_message = "one managed store, in the private subnets, for every source: ${jsonencode(output.store)}"
  }
}

run "read_back" {
  module {
    source = "../../tests/terraform/read-pipelines"
  }
  variables {
    names = ["tfn-github", "tfn-shopify"]
  }
  assert {
    condition     = output.stores == { "tfn-github" = "webhooks/github", "tfn-shopify" = "webhooks/shopify" }
    error_message = "each source in its collection of one database: ${jsonencode(output.stores)}"
  }
}

run "a_store_the_team_runs_in_the_vpc" {
  variables {
    store = { mongodb_uri_secret_arn = var.team_store_secret_arn }
  }
  assert {
    condition     = output.store == null
    error_message = "no managed store with the team's own: ${jsonencode(output.store)}"
  }
  assert {
    condition     = alltrue([for network in values(output.networks) : network.vpc_id == var.vpc_id])
    error_message = "the functions stay in the VPC, where the store is reached"
  }
}
