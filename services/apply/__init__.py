"""Apply stage (seed steps 1-6): validates a payment request, the payer, the bank, the
applicant's session and one-time code, then hands the payment to review."""
