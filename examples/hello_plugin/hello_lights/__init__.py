from hello_lights.driver import HelloLightsDriver

__all__ = ["HelloLightsDriver"]
