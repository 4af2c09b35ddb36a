// spin_lock.cpp: the count of spin locks this CPU holds (spin_lock.h), read by fault containment.
#include "sync/spin_lock.h"

extern "C" std::uint32_t delos_spin_locks_held = 0;
