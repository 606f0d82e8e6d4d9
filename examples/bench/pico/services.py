"""The tutorial's service: the caller's profile from the SecurityContext."""

from pico_ioc import component
from pico_client_auth import SecurityContext


@component
class UserService:
    def get_profile(self) -> dict:
        claims = SecurityContext.require()
        return {
            "sub": claims.sub,
            "email": claims.email,
            "org_id": claims.org_id,
            "roles": SecurityContext.get_roles(),
        }
