terraform {
  required_providers {
    nami = {
      source = "nami-serverless/nami"
    }
  }
}

# Real AWS: credentials and region from the usual chain (environment, profile, role).
provider "nami" {
  region = "us-east-1"

  default_tags {
    tags = {
      team = "platform"
    }
  }
}
