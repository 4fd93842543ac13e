"""The people's web screens, served by ``b2bpay serve`` beside the API: the pay page
(``/pay/``), online banking (``/bank/``) and the progress pages, server-rendered (Jinja2) with
htmx for live updates, every action a plain HTML form that works without JavaScript."""
