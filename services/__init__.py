"""The stage services of b2bpay, one package per stage."""
