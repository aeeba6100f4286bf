"""Implementations of `controller.suggester.Suggester`: random, grid and TPE search."""
