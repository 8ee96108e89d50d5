# Webhook pipelines placed in a VPC the team already has: the post-queue functions and the store
# in its private subnets, nothing public but the API endpoints. The sources, their validation and
# the pipelines are modules/webhook-sources'; this module pins them to the network.

module "sources" {
  source = "../webhook-sources"

  sources       = var.sources
  name_prefix   = var.name_prefix
  store         = var.store
  alarm_actions = var.alarm_actions
  tags          = var.tags

  network = {
    vpc_id     = var.vpc_id
    subnet_ids = var.private_subnet_ids
  }
}
