//! The event stream collector (see issue 4): placeholder until it lands.
