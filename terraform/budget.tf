# Optional monthly budget for the project, alerting billing admins by e-mail
# at 50, 90 and 100 % of var.budget.amount_usd. Disabled by default: the
# deployer needs roles/billing.costsManager on the billing account.

resource "google_billing_budget" "project" {
  count    = var.budget.enabled ? 1 : 0
  provider = google.billing

  billing_account = var.budget.billing_account
  display_name    = "${local.prefix} (${var.project_id})"

  budget_filter {
    projects = ["projects/${data.google_project.this.number}"]
  }

  amount {
    specified_amount {
      currency_code = "USD"
      units         = tostring(floor(var.budget.amount_usd))
    }
  }

  threshold_rules {
    threshold_percent = 0.5
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

  depends_on = [google_project_service.this]
}
