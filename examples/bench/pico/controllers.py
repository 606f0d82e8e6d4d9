"""The tutorial's controller (only the routes the load test needs)."""

from pico_fastapi import controller, get
from pico_client_auth import allow_anonymous
from services import UserService


@controller(prefix="/api", tags=["API"])
class ApiController:
    def __init__(self, user_service: UserService):
        self.user_service = user_service

    @get("/me")
    async def get_profile(self):
        """Get the authenticated user's profile."""
        return self.user_service.get_profile()

    @get("/health")
    @allow_anonymous
    async def health(self):
        """Public health check - no token required."""
        return {"status": "ok"}
