variable "vpc_id" {
  description = "The VPC the pipelines' functions and the store run in (e.g. `module.vpc.vpc_id` of terraform-aws-modules/vpc/aws)."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must be a VPC id (vpc-…)."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets of that VPC (e.g. `module.vpc.private_subnets`) for the post-queue functions and the store; two in two availability zones are recommended. Their routing must reach Secrets Manager (a NAT gateway or an interface endpoint) and, for a managed store, the MongoDB image's registry."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) > 0
    error_message = "private_subnet_ids is empty: give at least one private subnet (two in two availability zones are recommended)."
  }
  validation {
    condition     = alltrue([for id in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]+$", id))])
    error_message = "private_subnet_ids must be subnet ids (subnet-…)."
  }
  validation {
    condition     = length(distinct(var.private_subnet_ids)) == length(var.private_subnet_ids)
    error_message = "private_subnet_ids names a subnet twice."
  }
}

variable "sources" {
  description = "The webhook sources, by name: one pipeline each (the same shape as modules/webhook-sources' `sources`: `scheme`, `secret_arn`, optional `hmac`, `delivery_id`, `collection`, `throttle`, `batch`)."
  type = map(object({
    scheme     = string
    secret_arn = string
    hmac = optional(object({
      header    = string
      algorithm = optional(string)
      encoding  = optional(string)
      prefix    = optional(string)
    }))
    delivery_id = optional(string)
    collection  = optional(string)
    throttle = optional(object({
      rate  = optional(number)
      burst = optional(number)
    }), {})
    batch = optional(object({
      size            = optional(number)
      window_seconds  = optional(number)
      max_concurrency = optional(number)
    }), {})
  }))
}

variable "name_prefix" {
  description = "Put before each source's name to make its pipeline's name."
  type        = string
  default     = ""
}

variable "store" {
  description = "The store in the private subnets: one managed `nami_mongodb_store` every source joins (`managed`, the default: `name`, `instance_type`, `volume_size`, `snapshot_retention_days`, `retain_volume`) or a MongoDB you run in the VPC (`mongodb_uri_secret_arn`); `database` defaults to `webhooks`. See modules/webhook-sources."
  type = object({
    mongodb_uri_secret_arn = optional(string)
    database               = optional(string, "webhooks")
    managed = optional(object({
      name                    = optional(string)
      instance_type           = optional(string)
      volume_size             = optional(number)
      snapshot_retention_days = optional(number)
      retain_volume           = optional(bool)
    }))
  })
  default = { managed = {} }
}

variable "alarm_actions" {
  description = "ARNs notified when any pipeline's alarm fires or recovers (e.g. an SNS topic)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for every AWS object of every pipeline (merged over the provider's default_tags)."
  type        = map(string)
  default     = {}
}
