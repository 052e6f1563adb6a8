"""Text encoders behind one interface (`TextEncoder`), with an embedding cache."""
from loc_core.text.base import TextEncoder, encode_prompts
from loc_core.text.factory import create_text_encoder

__all__ = ['TextEncoder', 'encode_prompts', 'create_text_encoder']
