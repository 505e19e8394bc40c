"""How a trained model does: test-set scores (`metrics`), predictions (`predict`), and what it
looks at (`explain`: Grad-CAM, filters, activation maps)."""
