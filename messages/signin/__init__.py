"""Signing in to the admin: single sign-on with OpenID Connect (mozilla-django-oidc, with the
provider's endpoints discovered), the password form kept for a break-glass superuser, the
audit entries of every sign-in and failure, and sessions that end when their user is
deactivated. docs/access.md is the operator's side of it."""
