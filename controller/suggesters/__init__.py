"""Implementations of `controller.suggester.Suggester` (random, grid, TPE through hyperopt or Optuna, local search).

Beside them, the neutral helpers they share (`sampling`, `observed`, `liar`, `tpe_base`);
`controller.suggester_factory` picks one for a sweep.
"""
