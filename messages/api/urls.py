from __future__ import annotations

from rest_framework.routers import DefaultRouter

from messages.api.views import ChatViewSet, MessageViewSet

router = DefaultRouter()
router.register("chats", ChatViewSet, basename="chat")
router.register("messages", MessageViewSet, basename="message")

urlpatterns = router.urls
