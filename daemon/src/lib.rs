//! What every daemon of the suite shares.
