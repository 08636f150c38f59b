# Optional monthly budget for the project, alerting billing admins by e-mail
# at 50, 80, 90 and 100 % of var.budget.amount, and the notification channels of
# var.notification_channels (Cloud Monitoring) at each threshold: this is the
# "spend at 80 % of the budget" alert. Disabled by default: the deployer needs
# roles/billing.costsManager on the billing account.
#
# The amount is in the billing account's own currency: currency_code is left
# out unless var.budget.currency_code is set, because "if specified when
# creating a budget, it must match the currency of the billing account"
# (https://cloud.google.com/php/docs/reference/cloud-billing-budgets/1.4.4/V1.BudgetAmount,
# read 2026-11-25): a fixed "USD" failed for accounts billed in EUR, JPY, ...

resource "google_billing_budget" "project" {
  count    = var.budget.enabled ? 1 : 0
  provider = google.billing

  billing_account = var.budget.billing_account
  display_name    = "${local.prefix} (${var.project_id})"

  budget_filter {
    projects = ["projects/${local.project_number}"]
  }

  amount {
    specified_amount {
      currency_code = var.budget.currency_code
      units         = tostring(floor(local.budget_amount))
    }
  }

  threshold_rules {
    threshold_percent = 0.5
  }

  threshold_rules {
    threshold_percent = 0.8
  }

  threshold_rules {
    threshold_percent = 0.9
  }

  threshold_rules {
    threshold_percent = 1.0
  }

  threshold_rules {
    threshold_percent = 1.0
    spend_basis       = "FORECASTED_SPEND"
  }

  # Budget notifications also go to the operators' Cloud Monitoring channels
  # (billing admins keep their default e-mails).
  dynamic "all_updates_rule" {
    for_each = length(var.notification_channels) > 0 ? [1] : []
    content {
      monitoring_notification_channels = var.notification_channels
    }
  }

  depends_on = [time_sleep.apis_enabled]
}

locals {
  # amount_usd is the historical name; amount wins when both are set.
  budget_amount = coalesce(var.budget.amount, var.budget.amount_usd)
}
