# Webhook pipelines in a VPC made with the community VPC module (terraform-aws-modules/vpc/aws):
# the functions and the managed store in its private subnets, which reach the internet through
# its NAT gateway (for the store's image and Secrets Manager).

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
    nami = {
      source = "nami-serverless/nami"
    }
  }
}

provider "aws" {
  region = "eu-west-1"
}

provider "nami" {
  region = "eu-west-1"
}

module "vpc" {
  source  = "terraform-aws-modules/vpc/aws"
  version = "~> 6.0"

  name               = "webhooks"
  cidr               = "10.40.0.0/16"
  azs                = ["eu-west-1a", "eu-west-1b"]
  private_subnets    = ["10.40.1.0/24", "10.40.2.0/24"]
  public_subnets     = ["10.40.101.0/24", "10.40.102.0/24"]
  enable_nat_gateway = true
  single_nat_gateway = true
}

module "webhooks" {
  source = "../.."

  vpc_id             = module.vpc.vpc_id
  private_subnet_ids = module.vpc.private_subnets

  store = {
    managed = {
      instance_type           = "t3.medium"
      volume_size             = 50
      snapshot_retention_days = 14
    }
  }

  sources = {
    shopify = {
      scheme     = "shopify"
      secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/shopify-webhook-AbCdEf"
    }
    github = {
      scheme     = "github"
      secret_arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/github-webhook-AbCdEf"
    }
  }
}

output "endpoint_urls" {
  description = "Give each sender its URL."
  value       = module.webhooks.endpoint_urls
}
